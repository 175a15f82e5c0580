"""The API fixtures the Prometheus test shares: real `tweetops serve` processes and the bundled tweets."""
from tests.api.conftest import start_server, tweets  # noqa: F401  (fixtures)
