"""``mlgate db ...``: the offline OSV database."""

from __future__ import annotations

import argparse
import sys

from mlgate.errors import UsageError
from mlgate.exitcodes import ExitCode
from mlgate.textsafe import for_terminal


def cmd_db(args: argparse.Namespace) -> int:
    if getattr(args, "db_command", None) != "update":
        raise UsageError("missing action", hint="mlgate db update [--osv-db PATH] [--ecosystem X]")
    from mlgate.enrich.cache import default_cache_dir
    from mlgate.enrich.dbupdate import DEFAULT_ECOSYSTEMS, default_db_dir, update

    db = args.osv_db or default_db_dir()
    ecosystems = args.ecosystem or list(DEFAULT_ECOSYSTEMS)
    reports, counts = update(db, ecosystems, args.base_url, args.cache_dir or default_cache_dir())
    failed = 0
    for rep in reports:
        if rep.error:
            failed += 1
            print(f"error: {rep.ecosystem}: {for_terminal(rep.error)}", file=sys.stderr)
        elif not args.quiet:
            extra = f" ({rep.malformed} malformed, skipped)" if rep.malformed else ""
            print(f"{rep.ecosystem}: {rep.records} records{extra}")
    if counts and not args.quiet:
        print(f"index: {counts.get('records', 0)} records in {db}")
    return int(ExitCode.ERROR if failed else ExitCode.OK)
