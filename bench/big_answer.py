"""Peak memory of one hostile answer: a 200 MB body and a gzip body that inflates to 10 GiB.

Each case runs in a child process (its own peak RSS, VmHWM) with a loopback server in a thread
that streams the body from a 64 KB block (the server adds next to nothing):

- `plain`: a bare httpx.Client reading the answer whole (what migo-sync did before the limits);
- `default`: migo-sync's client with the default `max_body_mb` (100): refused at the limit;
- `raised`: migo-sync's client with `max_body_mb = 250`: read whole, as asked;
- `bomb`: migo-sync's client, default limit, the 10 GiB gzip bomb: refused at the limit.

    python bench/big_answer.py            # every case, 200 MB
    python bench/big_answer.py --mb 50
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]

CASES = ("plain", "default", "raised", "bomb")


def child(case: str, mb: int) -> dict[str, object]:
    import httpx
    from common import peak_rss_mb
    from helpers.hostile import flood, gzip_bomb, hostile_server

    from migo_sync.errors import MigoSyncError
    from migo_sync.http import make_client

    baseline = peak_rss_mb()
    behaviour = gzip_bomb(10) if case == "bomb" else flood(mb * 1_000_000)
    started = time.perf_counter()
    with hostile_server(behaviour) as url:
        if case == "plain":
            http = httpx.Client(base_url=url, timeout=600)
        else:
            http = make_client("bench", url, settings={"max_body_mb": 250} if case == "raised" else {})
        try:
            outcome = f"read {len(http.get('/export').content) / 1e6:.0f} MB"
        except MigoSyncError as exc:
            outcome = f"refused: {exc}"[:90]
        finally:
            http.close()
    return {"case": case, "outcome": outcome, "seconds": round(time.perf_counter() - started, 2),
            "baseline_mb": round(baseline), "peak_rss_mb": round(peak_rss_mb())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200, help="size of the large answer (MB)")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(child(args.case, args.mb)))
        return
    for case in CASES:
        out = subprocess.run([sys.executable, __file__, "--case", case, "--mb", str(args.mb)],
                             capture_output=True, text=True, check=True, timeout=900)
        result = json.loads(out.stdout)
        print(f"{result['case']:8} peak {result['peak_rss_mb']:>5} MB (baseline {result['baseline_mb']} MB) "
              f"{result['seconds']:>6} s  {result['outcome']}")


if __name__ == "__main__":
    main()
