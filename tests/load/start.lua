-- wrk: POST /start_communication as the core sends it.
wrk.method = "POST"
wrk.path = "/start_communication"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"purpose":"report_move"}'
