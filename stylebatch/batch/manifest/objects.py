"""Storage objects named by a run's jobs, checked together: one metadata request per distinct
URL, in parallel, never a download. A job naming a missing or unreadable object becomes a bad
row (or, in folder mode, a clear error) like a missing local file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ...errors import ConfigError, InputError
from ...hashing import forget_urls, input_fingerprint
from ...storage import Url
from .job import Job, Parsed, RowError

STAT_THREADS = 16  # metadata requests in flight at once (network-bound)


def object_problems(jobs: list[Job]) -> dict[str, str]:
    """{url: problem} for every storage object of `jobs` that cannot be used. Fills the
    fingerprint cache the jobs' ids are made from (objects may have changed since: refreshed)."""
    urls = sorted({str(p) for job in jobs for p in (job.content, *job.styles) if isinstance(p, Url)})
    forget_urls()
    problems: dict[str, str] = {}

    def check(url: str) -> None:
        try:
            input_fingerprint(url)
        except InputError as exc:
            problems[url] = exc.problem
        except ConfigError as exc:  # an unknown scheme, a storage extra not installed
            problems[url] = str(exc).removeprefix(f"{url}: ")

    if urls:
        with ThreadPoolExecutor(max_workers=STAT_THREADS) as pool:
            list(pool.map(check, urls))
    return problems


def check_objects(out: Parsed) -> list[Job]:
    """`out.jobs` less those whose storage objects are missing or unreadable (each problem goes
    to `out.errors`)."""
    problems = object_problems(out.jobs)
    if not problems:
        return out.jobs
    kept = []
    for job in out.jobs:
        named = [("content", str(job.content)), *(("style", str(s)) for s in job.styles)]
        bad = [(f, url) for f, url in named if url in problems]
        out.errors.extend(RowError(job.source, job.row, f, f"{url}: {problems[url]}") for f, url in bad)
        if not bad:
            kept.append(job)
    return kept
