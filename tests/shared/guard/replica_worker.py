"""One replica for the multi-process tests: reads ids on stdin, looks them up, prints a summary.

It goes through the real entry-point path (settings from the environment, ``open_service``),
so REDIS_URL and every budget setting apply exactly as in a deployment.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

from shared.infra.logs import configure_logging
from shared.runtime import open_service
from shared.settings import load_settings


async def main() -> None:
    settings = load_settings(_env_file=None)
    configure_logging("WARNING", "text")
    ids = sys.stdin.read().split()
    async with open_service(settings) as service:
        client = service.client()
        cap = client.options.max_ids_per_call
        chunks = await asyncio.gather(
            *(client.get_statuses(ids[i : i + cap]) for i in range(0, len(ids), cap))
        )
        results = [result for chunk in chunks for result in chunk]
        summary = {
            "answered": sum(r.ok for r in results),
            "errors": Counter(r.error.code for r in results if r.error is not None),
            "messages": sorted({r.error.message for r in results if r.error is not None})[:5],
            "redis_outages": client.link.outages if client.link is not None else 0,
        }
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
