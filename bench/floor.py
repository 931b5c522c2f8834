"""The floor of this stack: a bare FastAPI endpoint that parses the JSON and answers a fixed
response message. `uvicorn bench.floor:app`; bench.http compares $process-message with it."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request, Response

RESPONSE = orjson.dumps(
    {
        "resourceType": "Bundle",
        "type": "message",
        "entry": [{"resource": {"resourceType": "MessageHeader", "response": {"code": "ok"}}}],
    }
)

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/fhir/$process-message")
async def process_message(request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(RESPONSE, media_type="application/fhir+json")
