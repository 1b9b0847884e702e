#!/usr/bin/env python3
"""Launch day, scripted with medialib's Python API.

    python examples/launch.py --config /srv/stories/config.toml --launch 2027-03-01T09:00:00Z [--go]

1. Preview: which films would go live at the launch time, and why the others
   would not (a dry run judged at that moment: embargoes lifted, consents
   that expire before then already counted as expired).
2. With --go: publish now — the gates are judged again at this moment, so a
   film still under embargo stays off until a later run (run the script again
   at launch time, e.g. from cron) — then verify every object against the
   manifest and print the public URL of every film.

Exit codes: 0 done, 1 a gate, publish or verification problem, 2 bad input.
The S3 target, endpoint and credentials come from config.toml and the AWS
environment, as for `medialib publish`.
"""

from __future__ import annotations

import argparse
import sys

from medialib import Library, MedialibError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--config", help="the library's config.toml (default: ./config.toml or $MEDIALIB_CONFIG)")
    parser.add_argument("--launch", required=True, metavar="ISO8601", help="launch time, e.g. 2027-03-01T09:00:00Z")
    parser.add_argument("--target", help="override publish.target (s3://BUCKET/PREFIX or file:///PATH)")
    parser.add_argument("--go", action="store_true", help="publish and verify (default: preview only)")
    args = parser.parse_args(argv)
    try:
        with Library.open(args.config) as lib:
            preview = lib.publish(args.target, at=args.launch, dry_run=True)
            plan = preview.plan
            print(f"At {args.launch}, {len(plan.films)} film(s) go live on {plan.target}:")
            for film in plan.films:
                print(f"  + {film.slug}: {film.entry['title']}")
            for slug, reasons in sorted(plan.excluded.items()):
                print(f"  - {slug}: {'; '.join(reasons)}")
            if not args.go:
                print("Preview only: run again with --go to publish.")
                return 0
            outcome = lib.publish(args.target)
            print(f"Published {len(outcome.plan.films)} film(s): {outcome.uploaded} object(s) uploaded, "
                  f"{len(outcome.plan.unchanged)} unchanged, {outcome.deleted} deleted, {outcome.seconds:.1f} s")
            report = lib.verify_published(args.target)
            if not report["ok"]:
                print(f"VERIFY FAILED: missing {report['missing']}, different {report['different']}, "
                      f"unexpected {report['unexpected']}", file=sys.stderr)
                return 1
            print(f"Verified {report['checked']} object(s) against the manifest.")
            for slug, url in outcome.urls.items():
                print(f"  {slug}: {url}")
            late = sorted(set(f.slug for f in plan.films) - set(outcome.urls))
            if late:
                print(f"Still under embargo now, live at the launch time: {', '.join(late)}")
            return 0
    except MedialibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
