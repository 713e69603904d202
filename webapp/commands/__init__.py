"""More `signet …` command groups, one module per area; each registers itself on webapp.cli's
`signet` group when imported here (webapp.cli.init_app imports this package)."""
from . import apikey  # noqa: E402,F401
from . import webhook, worker  # noqa: E402,F401
from . import idp  # noqa: E402,F401
from . import audit  # noqa: E402,F401
