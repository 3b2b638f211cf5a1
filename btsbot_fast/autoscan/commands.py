"""``btsbot-fast autoscan``: decisions and SkyPortal actions from alerts or score tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..scorer_options import ScorerOptions, scorer_options
from .config import DEFAULT_PAYLOAD, FollowupConfig, SkyPortalConfig

#: result rows per state transaction (and per round of actions)
ROWS_PER_BATCH = 1000
#: exit statuses besides 0 (everything sent) and 2 (usage): a dead letter; actions left pending (SkyPortal
#: could not be reached: the next run or --send-pending sends them); SkyPortal refused the token
EXIT_DEAD_LETTER, EXIT_PENDING, EXIT_TOKEN_REFUSED = 1, 3, 4
#: how each kind of action is named in messages (singular, plural)
KIND_WORDS = {"candidate": ("candidate", "candidates"), "save": ("save", "saves"),
              "comment": ("comment", "comments"), "annotation": ("annotation", "annotations"),
              "followup": ("follow-up request", "follow-up requests"),
              "followup_comment": ("follow-up comment", "follow-up comments")}


def plural(n: int, one: str, many: str | None = None) -> str:
    """``"1 action"``, ``"2 actions"``."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--policy", default=None,
              help="gtN, bts_p1, bts_p2, prod_p1, prod_p2, optionally @THRESHOLD (counts score > threshold).")
@click.option("--candidates", type=click.Choice(["bts", "all"]), default="bts", show_default=True,
              help="bts: decide only on sources that passed the BTS candidate filter (from their first passing "
                   "alert on; score tables need the bts_candidate column). all: on every source.")
@click.option("--state", default=None,
              help="State: a SQLite file (created if needed), or PostgreSQL for several workers: "
                   "postgresql://user@host/db or 'host=... dbname=...' (the password: PGPASSWORD or ~/.pgpass).")
@click.option("--send-pending", "send_pending", default=None, metavar="STATE",
              help="Only send the actions queued in STATE (left by `stream --autoscan` or an interrupted run), "
                   "with retries, then exit; needs --skyportal-url (no PATHS, no --policy).")
@click.option("--skyportal-url", default=None, help="SkyPortal (Fritz) base URL; without it, decisions only.")
@click.option("--group-id", "group_ids", type=int, multiple=True, help="Group to save sources to (repeatable).")
@click.option("--ignore-if-in-group-ids", default=None,
              help='JSON {"group_id": [group ids]}: SkyPortal skips saving to a group if the source is in those.')
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File holding the SkyPortal token (default: $SKYPORTAL_TOKEN).")
@click.option("--allocation-id", type=int, default=None, help="Request follow-up on this allocation (e.g. SEDM).")
@click.option("--target-group-id", "target_group_ids", type=int, multiple=True,
              help="Target groups of follow-up requests (repeatable; default: the --group-id values).")
@click.option("--followup-payload", default=None,
              help=f"Follow-up payload JSON (default {json.dumps(DEFAULT_PAYLOAD)}); "
                   "start_date and end_date are added.")
@click.option("--followup-constraints", default=None, metavar="JSON",
              help='SkyPortal follow-up constraints sent with each request, e.g. {"not_if_classified": true, '
                   '"not_if_tns_reported": 48} (the keys [followup] takes in the TOML config).')
# the defaults are the config dataclasses' (a dataclass keeps a plain default as its class attribute)
@click.option("--filter-id", type=int, default=None,
              help="Post each decided source as a candidate of this SkyPortal filter first (its scanning page).")
@click.option("--trail/--no-trail", default=True, show_default=True,
              help="Comment on each save and follow-up request, and annotate each source with its BTSbot scores.")
@click.option("--update-annotations", is_flag=True,
              help="Update a source's annotation (PUT) when later alerts change its scores.")
@click.option("--followup-grace", type=click.FloatRange(min=0), default=SkyPortalConfig.followup_grace,
              show_default=True,
              help="Seconds a follow-up request whose answer was lost is waited for before a new one may go out.")
@click.option("--validity-days", type=click.FloatRange(min=0, min_open=True), default=FollowupConfig.validity_days,
              show_default=True, help="end_date = decision time + this many days.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=SkyPortalConfig.timeout,
              show_default=True, help="Seconds per SkyPortal request.")
@click.option("--max-attempts", type=click.IntRange(min=1), default=SkyPortalConfig.max_attempts, show_default=True,
              help="Tries per action on 5xx/408/429 answers, timeouts and connection errors; then it stays "
                   "pending for the next run (nothing is dead-lettered for a failure that may pass).")
@click.option("--backoff", type=click.FloatRange(min=0), default=SkyPortalConfig.backoff, show_default=True,
              help="First retry delay in seconds, doubled at each retry.")
@click.option("--decisions", "decisions_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append one JSON line per decision (with its actions' outcomes) to this file.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write summary.json and decisions.png (needs the [report] extra) into this folder.")
@click.option("--dry-run", is_flag=True,
              help="Print what would be sent; send nothing and leave no file behind (the state as it was).")
@click.option("--retry-failed", is_flag=True, help="Put dead-lettered actions back in the queue first.")
@scorer_options
def autoscan(paths, policy, candidates, state, send_pending, skyportal_url, group_ids, ignore_if_in_group_ids,
             token_file, allocation_id, target_group_ids, followup_payload, followup_constraints, filter_id, trail,
             update_annotations, followup_grace, validity_days, timeout, max_attempts, backoff, decisions_path,
             report_dir, dry_run, retry_failed, scorer_options: ScorerOptions) -> None:
    """Turn scores into per-source decisions and act on them in SkyPortal, exactly once.

    PATHS are what `score` takes (alert files, directories, .tar nights, Parquet alert tables) or score
    tables written by `score` (.csv, .jsonl, .parquet). Each source's alerts are judged in jd order; by
    default only BTS candidates are decided on (--candidates). A selected source is saved to --group-id
    groups (with its position; first posted as a candidate with --filter-id), gets a comment saying why and
    an annotation with its BTSbot scores (--no-trail: none) and, with --allocation-id, one follow-up
    request.
    Everything is recorded in --state, so a replay, a rerun or a restart after a crash repeats nothing.

    Exit status: 0 everything sent (or nothing to send), 1 an action was dead-lettered (SkyPortal refused
    it for good: see its reason, then --retry-failed), 3 actions stay pending (SkyPortal could not be
    reached: the next run or --send-pending sends them), 4 SkyPortal refused the token (every action stays
    pending), 2 a usage error.
    """
    from ..backends import ModelRunError
    from ..secrets import SecretError, refuse_password_in_url
    from .config import AutoscanConfig, ConfigError, parse_constraints, parse_ignore_groups, parse_payload
    from .inputs import InputError, batched, result_rows
    from .report import require_matplotlib
    from .runner import Autoscan
    from .skyportal import INSTALL_HINT
    from .state import StateError, safe_url

    if send_pending is not None:
        if paths or policy or state or dry_run or report_dir or decisions_path:
            raise click.UsageError("--send-pending STATE takes no PATHS, --policy, --state, --dry-run, --report or "
                                   "--decisions: it only sends what STATE has queued")
        if not skyportal_url:
            raise click.UsageError("--send-pending needs --skyportal-url")
        try:
            refuse_password_in_url(send_pending, "--send-pending")
        except SecretError as exc:
            raise click.UsageError(str(exc)) from None
        _send_pending(send_pending, skyportal_url, token_file, timeout, max_attempts, backoff, retry_failed,
                      followup_grace, update_annotations)
        return
    if not paths or policy is None or state is None:
        raise click.UsageError("give PATHS, --policy and --state (or --send-pending STATE)")
    try:
        if report_dir is not None:
            require_matplotlib("--report")
        sp = fu = None
        if skyportal_url:
            sp = SkyPortalConfig(url=skyportal_url, group_ids=tuple(group_ids),
                                 ignore_if_in_group_ids=parse_ignore_groups(ignore_if_in_group_ids),
                                 token_file=token_file, timeout=timeout, max_attempts=max_attempts, backoff=backoff,
                                 filter_id=filter_id, comments=trail, annotations=trail,
                                 update_annotations=update_annotations, followup_grace=followup_grace)
        elif group_ids or allocation_id is not None or filter_id is not None:
            raise ConfigError("--group-id, --allocation-id and --filter-id need --skyportal-url")
        if allocation_id is not None:
            fu = FollowupConfig(allocation_id=allocation_id, target_group_ids=tuple(target_group_ids) or None,
                                payload=parse_payload(followup_payload) if followup_payload else dict(DEFAULT_PAYLOAD),
                                validity_days=validity_days,
                                constraints=parse_constraints(followup_constraints or "{}"))
        elif followup_payload or target_group_ids or followup_constraints:
            raise ConfigError("--followup-payload, --followup-constraints and --target-group-id need --allocation-id")
        try:
            refuse_password_in_url(state, "--state")
        except SecretError as exc:
            raise ConfigError(str(exc)) from None
        config = AutoscanConfig(policy=policy, state=state, skyportal=sp, followup=fu, decisions=decisions_path,
                                candidates=candidates)
        scan = Autoscan(config, dry_run=dry_run)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except StateError as exc:
        raise click.ClickException(str(exc)) from None
    except ImportError as exc:  # matplotlib / requests / psycopg missing
        raise click.ClickException(str(exc) or INSTALL_HINT) from None

    scorer = None

    def make_scorer():  # only alert inputs need one (score tables are used as they are)
        nonlocal scorer
        if scorer is None:  # --precision fast re-scores exactly near the policy's threshold too
            scorer = scorer_options.open(extra_thresholds=(scan.policy.threshold,))
        return scorer

    would_send: list[str] = []
    try:
        with scan:
            if retry_failed:
                n = scan.retry_failed()
                click.echo(f"autoscan: {plural(n, 'failed action')} put back in the queue", err=True)
            scan.resume()
            for rows in batched(result_rows(list(paths), make_scorer, candidates), ROWS_PER_BATCH):
                scan.process(rows)
            if scan.stats.unreachable:  # SkyPortal was down during a long run: one more try at its end
                scan.resume(force=False)
            if report_dir is not None:
                from .report import write_report

                write_report(scan, report_dir)
            st = scan.stats
            queued = scan.store.open_actions()
            pending = len(queued)
            if dry_run:
                from .actions import describe

                would_send = [describe(a.kind, a.request) for a in queued]
    except InputError as exc:
        raise click.ClickException(str(exc)) from None
    except ModelRunError as exc:  # a broken runtime: the batches decided before it stay recorded
        raise click.ClickException(f"scoring stopped: {exc}") from None
    except StateError as exc:
        raise click.ClickException(str(exc)) from None
    except scan.store.errors as exc:  # the database failed mid-run: what was committed stays consistent
        raise click.ClickException(f"state {safe_url(state)}: {type(exc).__name__}: {exc}") from None

    failed, done = st.actions_in("failed"), st.actions_in("done")
    decided = sum(st.decisions.values())
    on = "BTS candidates" if candidates == "bts" else "all sources"
    head = (f"autoscan {scan.policy.name} on {on}: {plural(st.rows, 'row')} ({st.scored} scored, "
            f"{st.failed + st.unusable} failed, {st.duplicates} already seen), {plural(len(st.sources), 'source')} "
            f"({plural(len(st.candidate_sources), 'BTS candidate')}), {plural(decided, 'new decision')}")
    if dry_run:
        for line in would_send:
            click.echo(f"would send: {line}")
        if sp is None:
            what = "nothing to send (no SkyPortal settings)"
        else:
            what = "would send " + (_kinds(queued) or "nothing")
        click.echo(f"{head}; {what} (dry run: nothing sent, state unchanged)", err=True)
        return
    if sp is None:
        left = f"; {plural(pending, 'action')} queued in the state, untouched (no SkyPortal settings)" if pending \
            else ""
        click.echo(f"{head} in {safe_url(state)}{left}", err=True)
        return
    click.echo(f"{head}, {plural(done, 'action')} done, {failed} failed, {pending} pending in {safe_url(state)}",
               err=True)
    sys.exit(_report_sending(failed, pending, len(scan.sender.left_pending), st.auth_refused, st.unreachable, state))


def _kinds(actions) -> str:
    """``"2 saves, 2 comments, 1 follow-up request"`` for a list of actions."""
    from collections import Counter

    counts = Counter(a.kind for a in actions)
    return ", ".join(plural(n, *KIND_WORDS.get(k, (k, k + "s"))) for k, n in counts.items())


def _report_sending(failed: int, pending: int, left_pending: int, auth_refused: str | None,
                    unreachable: str | None, state: str) -> int:
    """Say what was not sent and why; the exit status (0: everything this run tried was sent; actions
    other workers are sending meanwhile are counted as pending, but do not make it fail)."""
    from .state import safe_url

    again = f"the next run, or `btsbot-fast autoscan --send-pending {safe_url(state)} --skyportal-url URL`, sends them"
    if auth_refused:
        click.echo(f"autoscan: SKYPORTAL REFUSED THE TOKEN: {auth_refused}. Nothing more was sent; "
                   f"{plural(pending, 'action')} stay pending: fix the token, then {again}", err=True)
        return EXIT_TOKEN_REFUSED
    if failed:
        click.echo(f"autoscan: {plural(failed, 'action')} failed and {'was' if failed == 1 else 'were'} "
                   "dead-lettered (SkyPortal refused them: see their reasons); rerun with --retry-failed once the "
                   "cause is fixed", err=True)
    if left_pending:
        why = f" (SkyPortal: {unreachable})" if unreachable else ""
        click.echo(f"autoscan: {plural(pending, 'action')} not sent yet stay pending{why}: {again}", err=True)
    if failed:
        return EXIT_DEAD_LETTER
    return EXIT_PENDING if left_pending or unreachable else 0


def _send_pending(state: str, url: str, token_file: Path | None, timeout: float, max_attempts: int, backoff: float,
                  retry_failed: bool, followup_grace: float, update_annotations: bool) -> None:
    """``autoscan --send-pending STATE``: one sweep of the state's open actions (each through its retries)."""
    from collections import Counter

    from .actions import ActionRunner
    from .config import ConfigError, checked_url, read_token
    from .sender import Sender
    from .skyportal import SkyPortal
    from .state import StateError, open_store, safe_url

    try:
        client = SkyPortal(checked_url(url), read_token(token_file), timeout=timeout)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    outcomes: Counter = Counter()
    try:
        with client, open_store(state) as store:
            if retry_failed:
                n = store.retry_failed()
                click.echo(f"autoscan: {plural(n, 'failed action')} put back in the queue", err=True)
            runner = ActionRunner(client, max_attempts=max_attempts, backoff=backoff, followup_grace=followup_grace,
                                  update_annotations=update_annotations)
            sender = Sender(store, runner, on_outcome=lambda kind, st, error: outcomes.update([st]))
            result = sender.sweep()
            left = store.open_action_count()
    except StateError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"autoscan --send-pending {safe_url(state)}: {plural(outcomes['done'], 'action')} done, "
               f"{outcomes['failed']} failed, {left} still pending", err=True)
    sys.exit(_report_sending(outcomes["failed"], left, len(sender.left_pending), result.auth_refused,
                             result.unreachable, state))


__all__ = ["autoscan"]
