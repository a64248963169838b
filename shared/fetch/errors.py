"""The one error every step of fetching an article raises, with the code the job fails with."""
from __future__ import annotations

# code -> what it means; the API answers url_invalid with 400 and url_forbidden with 422 at submit
CODES = {
    "url_invalid": "the URL is malformed, too long or not http(s)",
    "url_forbidden": "the URL (or a redirect) leads to a private, loopback or reserved address",
    "fetch_failed": "the page answered an HTTP error, too many redirects, or the network failed",
    "fetch_too_large": "the page is larger than READOUT_FETCH_MAX_BYTES",
    "fetch_timeout": "the page was not read within READOUT_FETCH_TIMEOUT",
    "unsupported_content": "the page is not HTML, plain text or Markdown",
    "text_empty": "nothing readable was found on the page",
}


class FetchError(Exception):
    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        assert code in CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable  # a 5xx or a network error: worth another try later
