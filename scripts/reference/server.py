"""Serves `handler.lambda_handler` over HTTP, as `local-server` serves the
Rust handler: `python3 scripts/reference/server.py [PORT]` (default
`REFERENCE_PORT`, else 3001) on 127.0.0.1.

One request at a time on the main thread (`http.server.HTTPServer`, not the
threading variant): a Lambda sandbox handles one invocation at a time, and
`scripts/side-by-side.py` reads the process's CPU from
`/proc/<pid>/task/*/schedstat`, which forgets a thread once it exits (as a
per-request thread of `ThreadingHTTPServer` would).
"""

import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import handler  # noqa: E402  (after the path above)


class Handler(BaseHTTPRequestHandler):
    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        event = {
            "version": "2.0",
            "rawPath": self.path,
            "headers": dict(self.headers.items()),
            "requestContext": {"http": {"method": self.command, "path": self.path}},
            "body": body,
            "isBase64Encoded": False,
        }
        if self.path.split("?")[0] != "/api/v1/operations/export":
            response = {"statusCode": 404, "headers": {}, "body": ""}
        else:
            response = handler.lambda_handler(event, None)
        data = response["body"].encode("utf-8")
        self.send_response(response["statusCode"])
        for name, value in response["headers"].items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET = do_PUT = do_DELETE = _serve

    def log_message(self, format, *args):  # one line per request, as the Rust server logs
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), format % args))


def main():
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("REFERENCE_PORT", "3001"))
    server = HTTPServer(("127.0.0.1", port), Handler)
    print(f"reference handler on http://127.0.0.1:{port}/api/v1/operations/export", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
