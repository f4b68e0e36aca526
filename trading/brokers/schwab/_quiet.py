"""Imported first by the package: keeps one of Authlib's import-time warnings off every command's stderr.

Authlib 1.9 warns, as it is imported, that it would rather use the `httpx2` package than `httpx`;
schwab-py is built on httpx. Authlib's own module installs an "always" filter for its warnings when it
is imported, so this filter must be added after that import to win.
"""

import warnings

import authlib.deprecate  # noqa: F401  (its import installs the filter this one must follow)

warnings.filterwarnings("ignore", message="The httpx module is deprecated")
