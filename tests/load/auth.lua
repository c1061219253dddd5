-- wrk: POST /auth_result with the captured sample token (run the server
-- with --clock 1615879800; repeats are logged as replays, at full cost).
local f = assert(io.open("tests/data/sample-token.jwt", "rb"))
wrk.method = "POST"
wrk.path = "/auth_result"
wrk.headers["Content-Type"] = "application/jwt"
wrk.body = f:read("*a")
f:close()
