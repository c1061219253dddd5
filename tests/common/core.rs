//! A stand-in for the ecosystem's core, on loopback: `POST /start` takes
//! an auth-only request as id-contact/core's `session_start_jwt` and
//! `decode_authonly_request` do (`application/jwt`; the verifier picked
//! by the header's `kid` among `[global.authonly_request_keys.*]`, its
//! algorithm the key's; `exp`/`nbf` checked against now; `request`
//! deserialised as `StartRequestAuthOnly`), verified here with ring, not
//! with anything of the product. It answers `{"client_url"}` as JSON when
//! asked for JSON, and records what it got. `GET /auth/N` is the page a
//! browser is sent to.
#![allow(dead_code)]

use base64::Engine as _;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// A verifier as the core configures one: RS256 for an RSA key, ES256
/// for an EC one.
#[derive(Clone)]
pub enum Key {
    Rsa(Vec<u8>),
    Ec(Vec<u8>),
}

impl Key {
    /// From a public key PEM (SPKI), as `[global.authonly_request_keys.KID]`
    /// holds it with `type = "RSA"` or `"EC"`.
    pub fn rsa(pem: &str) -> Key {
        use rsa::pkcs1::EncodeRsaPublicKey;
        use rsa::pkcs8::DecodePublicKey;
        let k = rsa::PublicKey::from_public_key_pem(pem).unwrap();
        Key::Rsa(k.to_pkcs1_der().unwrap().as_bytes().to_vec())
    }

    pub fn ec(pem: &str) -> Key {
        use p256::pkcs8::DecodePublicKey;
        let k = p256::PublicKey::from_public_key_pem(pem).unwrap();
        Key::Ec(k.to_sec1_bytes().to_vec())
    }

    fn verify(&self, alg: &str, signed: &[u8], sig: &[u8]) -> bool {
        use ring::signature::{
            UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256,
        };
        match (self, alg) {
            (Key::Rsa(der), "RS256") => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
                .verify(signed, sig)
                .is_ok(),
            (Key::Ec(point), "ES256") => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(signed, sig)
                .is_ok(),
            _ => false,
        }
    }
}

/// What one request to `/start` was, as the core saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub content_type: String,
    pub accept: String,
    pub header: Value,
    pub claims: Value,
    /// The verdict: `Ok(request)` (the `request` claim), or why refused.
    pub verdict: Result<Value, String>,
}

pub struct Core {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn b64d(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `decode_authonly_request`, step by step.
fn decode(jws: &str, keys: &[(String, Key)]) -> (Value, Value, Result<Value, String>) {
    let parts: Vec<&str> = jws.split('.').collect();
    if parts.len() != 3 {
        return (Value::Null, Value::Null, Err("not a compact JWS".into()));
    }
    let json = |p: &str| b64d(p).and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let (Some(header), Some(claims)) = (json(parts[0]), json(parts[1])) else {
        return (Value::Null, Value::Null, Err("not JSON".into()));
    };
    let verdict = (|| {
        let kid = header["kid"].as_str().ok_or("no kid")?;
        let key = keys
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, k)| k)
            .ok_or("unknown kid")?;
        let alg = header["alg"].as_str().ok_or("no alg")?;
        let sig = b64d(parts[2]).ok_or("signature not base64url")?;
        let signed = format!("{}.{}", parts[0], parts[1]);
        if !key.verify(alg, signed.as_bytes(), &sig) {
            return Err("bad signature".to_string());
        }
        let t = now();
        if claims
            .get("exp")
            .is_some_and(|e| e.as_u64().is_none_or(|e| e <= t))
        {
            return Err("expired".into());
        }
        if claims
            .get("nbf")
            .is_some_and(|n| n.as_u64().is_none_or(|n| n > t))
        {
            return Err("not yet valid".into());
        }
        let request = claims.get("request").ok_or("no request claim")?;
        for member in ["purpose", "auth_method", "comm_url"] {
            request[member]
                .as_str()
                .ok_or(format!("request.{member} is not a string"))?;
        }
        if !request["attr_url"].is_null() && !request["attr_url"].is_string() {
            return Err("request.attr_url is not a string".into());
        }
        Ok(request.clone())
    })();
    (header, claims, verdict.map_err(|e: String| e))
}

impl Core {
    pub fn start(keys: Vec<(String, Key)>) -> Core {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                serve(c, &keys, &s, addr);
            }
        });
        Core { addr, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn serve(mut c: TcpStream, keys: &[(String, Key)], seen: &Mutex<Vec<Seen>>, me: SocketAddr) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match c.read(&mut chunk) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let field = |name: &str| {
        head.lines()
            .skip(1)
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let len: usize = field("content-length").parse().unwrap_or(0);
    while buf.len() < end + 4 + len {
        match c.read(&mut chunk) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buf[end + 4..]).into_owned();
    let line = head.lines().next().unwrap_or("");
    if let Some(n) = line.strip_prefix("GET /auth/") {
        let n = n.split(' ').next().unwrap_or("");
        let page =
            format!("<!doctype html><title>auth {n}</title><h1 id=\"auth\">auth plugin {n}</h1>");
        let _ = write!(c, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}", page.len());
        return;
    }
    let content_type = field("content-type");
    let accept = field("accept");
    let (header, claims, mut verdict) = decode(body.trim(), keys);
    if !line.starts_with("POST /start ") {
        verdict = Err(format!("not POST /start: {line}"));
    } else if content_type != "application/jwt" {
        verdict = Err("not application/jwt".into());
    }
    let answer = match &verdict {
        Ok(_) => {
            let n = seen.lock().unwrap().len() + 1;
            let json = format!(r#"{{"client_url":"http://{me}/auth/{n}"}}"#);
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}", json.len())
        }
        Err(_) => {
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request"
                .to_string()
        }
    };
    seen.lock().unwrap().push(Seen {
        content_type,
        accept,
        header,
        claims,
        verdict,
    });
    let _ = c.write_all(answer.as_bytes());
}
