//! Which requests a browser may make change anything: the cross-site
//! defence every changing route uses, on either listener.
//!
//! A plain form on any site can POST to us. A changing request is refused
//! unless `Sec-Fetch-Site` says `same-origin` (or `none`: the user's own
//! navigation); a browser too old to send it is judged by `Origin`, which
//! must be `http(s)://` and the request's own `Host`. `Origin: null` is
//! never same-origin: a sandboxed frame or a redirect on a foreign page
//! sends it too. No `Origin` and no `Sec-Fetch-Site` is not a browser
//! (curl, scripts): it passes.

/// What a browser said of where a request comes from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Provenance<'a> {
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub sec_fetch_site: Option<&'a str>,
}

impl<'a> Provenance<'a> {
    pub fn of(req: &super::Request<'a>) -> Self {
        Provenance {
            host: req.headers.get("host"),
            origin: req.headers.get("origin"),
            sec_fetch_site: req.headers.get("sec-fetch-site"),
        }
    }
}

/// Why a changing request was refused as cross-site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossSite {
    /// `Sec-Fetch-Site` is `cross-site` or `same-site` (another port or
    /// subdomain is another origin).
    FetchSite,
    /// `Origin: null`.
    NullOrigin,
    /// `Origin` names another origin than the request's `Host`.
    OtherOrigin,
}

impl CrossSite {
    pub fn message(self) -> &'static str {
        match self {
            CrossSite::FetchSite => {
                "cross-site request refused (Sec-Fetch-Site is not same-origin)"
            }
            CrossSite::NullOrigin => {
                "cross-site request refused (Origin: null is never same-origin)"
            }
            CrossSite::OtherOrigin => "cross-site request refused (Origin is not this listener)",
        }
    }
}

/// Whether a request that changes something may: `Sec-Fetch-Site` first,
/// then `Origin` against `Host`; neither is not a browser.
pub fn same_origin(p: &Provenance<'_>) -> Result<(), CrossSite> {
    if let Some(site) = p.sec_fetch_site {
        return match site.to_ascii_lowercase().as_str() {
            "same-origin" | "none" => Ok(()),
            _ => Err(CrossSite::FetchSite),
        };
    }
    let Some(origin) = p.origin else {
        return Ok(());
    };
    if origin.eq_ignore_ascii_case("null") {
        return Err(CrossSite::NullOrigin);
    }
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match (authority, p.host) {
        (Some(a), Some(h)) if a.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(CrossSite::OtherOrigin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_site_by_fetch_metadata_then_origin() {
        let p = |origin, site| Provenance {
            host: Some("127.0.0.1:8001"),
            origin,
            sec_fetch_site: site,
        };
        // Chromium with `Referrer-Policy: no-referrer` posts a form with
        // `Origin: null` and `Sec-Fetch-Site: same-origin`.
        assert_eq!(same_origin(&p(Some("null"), Some("same-origin"))), Ok(()));
        assert_eq!(same_origin(&p(None, Some("none"))), Ok(()));
        assert_eq!(
            same_origin(&p(Some("http://127.0.0.1:8001"), Some("same-site"))),
            Err(CrossSite::FetchSite)
        );
        assert_eq!(
            same_origin(&p(Some("null"), None)),
            Err(CrossSite::NullOrigin)
        );
        assert_eq!(same_origin(&p(Some("http://127.0.0.1:8001"), None)), Ok(()));
        assert_eq!(
            same_origin(&p(Some("http://evil.example"), None)),
            Err(CrossSite::OtherOrigin)
        );
        assert_eq!(same_origin(&p(None, None)), Ok(()), "curl");
    }
}
