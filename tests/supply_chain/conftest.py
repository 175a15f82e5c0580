"""The supply-chain tests share the OSV stand-in."""
from tests.servers.osv import osv_api  # noqa: F401  (fixture)
