#!/usr/bin/env bash
# The cron entry point of the daily run: `fund rebalance` in the given mode, logged to
# logs/rebalancing/rebalance_YYYYMMDD_HHMMSS.log (UTC) and echoed to stdout for cron mail.
#
#   run_daily_rebalance.sh [dry-run|paper|live] [fund rebalance options...]
#
# The mode is the first argument, else $FUND_MODE, else paper. Options after it (or in its place,
# when the first argument is an option such as --date) go to `fund rebalance` unchanged.
# Live mode passes --live --yes; the fund command still refuses unless FUND_LIVE_ARMED=1.
# FUND_UPDATE_DATA=PROVIDER (e.g. alpaca) first runs `fund data update --provider PROVIDER`, logged the
# same way; if that fails, nothing is rebalanced and the script exits with the update's status.
# FUND_DAILY_REPORT=DIR then runs `fund report daily --output DIR` after the run (sent to the [notify] targets).
# Exit status: the fund command's (0 ok or nothing to do, 1 failed, 3 risk rejected); 2 bad usage.
set -euo pipefail

usage() {
  echo "usage: $(basename "$0") [dry-run|paper|live] [fund rebalance options...]" >&2
  echo "  the mode may also be --dry-run, --paper-trading or --live, or come from FUND_MODE (default paper)" >&2
  echo "  FUND_UPDATE_DATA=PROVIDER (e.g. alpaca) runs \`fund data update --provider PROVIDER\` first" >&2
}

# The repository root from this file's real location, so cron can call it from any directory or symlink.
source_path="${BASH_SOURCE[0]}"
while [ -L "$source_path" ]; do
  link_dir="$(cd -P "$(dirname "$source_path")" && pwd)"
  source_path="$(readlink "$source_path")"
  [[ $source_path == /* ]] || source_path="$link_dir/$source_path"
done
repo="$(cd -P "$(dirname "$source_path")/.." && pwd)"

# The mode's name for a spelling of it; fails for anything else.
mode_name() {
  case "$1" in
    dry-run | --dry-run) echo dry-run ;;
    paper | --paper-trading) echo paper ;;
    live | --live) echo live ;;
    *) return 1 ;;
  esac
}

mode_source="FUND_MODE"
mode_given="${FUND_MODE:-paper}"
if [ $# -gt 0 ]; then
  case "$1" in
    -h | --help)
      usage 2>&1
      exit 0
      ;;
    --*)
      # An option that is not a mode spelling starts the pass-through options; FUND_MODE decides.
      if mode_name "$1" >/dev/null; then
        mode_given="$1" mode_source="the first argument"
        shift
      fi
      ;;
    *)
      mode_given="$1" mode_source="the first argument"
      shift
      ;;
  esac
fi
if ! mode="$(mode_name "$mode_given")"; then
  echo "unknown mode '$mode_given' (from $mode_source)" >&2
  usage
  exit 2
fi
case "$mode" in
  dry-run) mode_flags=(--dry-run) ;;
  paper) mode_flags=(--paper-trading) ;;
  live) mode_flags=(--live --yes) ;; # arming stays with the fund command: it wants FUND_LIVE_ARMED=1
esac

fund="${FUND_BIN:-$repo/.venv/bin/fund}"
if ! command -v "$fund" >/dev/null 2>&1; then
  echo "the fund command is missing: $fund is not an executable (run \`make install\` first)" >&2
  exit 2
fi

log_dir="${FUND_LOG_DIR:-$repo/logs/rebalancing}"
mkdir -p "$log_dir"
log="$log_dir/rebalance_$(date -u +%Y%m%d_%H%M%S).log"

command=("$fund" rebalance "${mode_flags[@]}" "$@")
quoted="$(printf '%q ' "${command[@]}")"
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) start: mode $mode: ${quoted% }" | tee -a "$log"

# Both streams to the log and to stdout; unbuffered so their lines keep their order.
run_logged() {
  set +e
  PYTHONUNBUFFERED=1 "$@" 2>&1 | tee -a "$log"
  status="${PIPESTATUS[0]}"
  set -e
}

if [ -n "${FUND_UPDATE_DATA:-}" ]; then
  update=("$fund" data update --provider "$FUND_UPDATE_DATA")
  quoted_update="$(printf '%q ' "${update[@]}")"
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) data update: ${quoted_update% }" | tee -a "$log"
  run_logged "${update[@]}"
  if [ "$status" -ne 0 ]; then
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) end: mode $mode: data update failed: exit status $status" | tee -a "$log"
    exit "$status"
  fi
fi

run_logged "${command[@]}"
rebalance_status="$status"

# FUND_DAILY_REPORT=DIR: the session's report (text and chart) into DIR and to the [notify] targets, for the
# account the run was for, whatever the run's outcome; the script's exit status stays the run's.
if [ -n "${FUND_DAILY_REPORT:-}" ]; then
  report=("$fund" report daily --output "$FUND_DAILY_REPORT")
  previous=""
  for argument in "$@"; do
    case "$argument" in
      --account-id=*) report+=(--account-id "${argument#--account-id=}") ;;
    esac
    if [ "$previous" = "--account-id" ]; then
      report+=(--account-id "$argument")
    fi
    previous="$argument"
  done
  quoted_report="$(printf '%q ' "${report[@]}")"
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) daily report: ${quoted_report% }" | tee -a "$log"
  run_logged "${report[@]}"
  if [ "$status" -ne 0 ]; then
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) daily report failed: exit status $status" | tee -a "$log"
  fi
fi

echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) end: mode $mode: exit status $rebalance_status" | tee -a "$log"
exit "$rebalance_status"
