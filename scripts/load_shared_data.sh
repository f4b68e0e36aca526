#!/usr/bin/env bash
# Load the real S&P 500 data set (../shared/data/sp500_av_1999_2021 or the folder given) into the
# database of the current settings (FUND_DATABASE_URL), through the same commands a user runs.
set -euo pipefail

data_dir="${1:-$(dirname "$0")/../../shared/data/sp500_av_1999_2021}"
fund="${FUND_BIN:-fund}"

if [ ! -f "$data_dir/prices_stocks.csv.gz" ]; then
  echo "no prices_stocks.csv.gz in $data_dir" >&2
  exit 2
fi

"$fund" db upgrade
"$fund" data import-securities "$data_dir/tickers.csv"
"$fund" data import "$data_dir/prices_stocks.csv.gz" "$data_dir/benchmarks.csv.gz"
# The snapshot is dated 2018-02-08: it must never be visible before that date.
"$fund" data import-fundamentals "$data_dir/fundamentals_snapshot_2018-02-08.csv" --as-of 2018-02-08
"$fund" data status --summary
