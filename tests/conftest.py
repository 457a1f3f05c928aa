"""Test set-up: fake credentials and region before any boto3 client exists, then moto."""
import os

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.setdefault(_name, "testing")
os.environ.pop("AWS_ENDPOINT_URL", None)  # tests use in-process moto unless they start a server
os.environ.pop("AWS_PROFILE", None)

import moto  # noqa: E402,F401  (imported before any client so moto can intercept it)
import pytest  # noqa: E402

from chalicelib.local import LocalDesk  # noqa: E402


@pytest.fixture
def environment():
    """Extra stage environment for ``desk``; a module (or a parametrized test) overrides it, e.g. with
    the chat platforms' secrets (``tests.chat.SECRETS``)."""
    return {}


@pytest.fixture
def desk(environment):
    with LocalDesk(environment=environment) as local_desk:
        yield local_desk


@pytest.fixture
def admin_token(desk):
    # Away: an admin who manages the desk but takes no tickets, so assignment tests count only their agents.
    return desk.add_agent("Ada Admin", "ada@example.com", role="admin", status="away")[1]


@pytest.fixture
def imported(desk):
    """The desk with the demo knowledge base imported (``chalicelib/kb/articles``): suggestions, the bot, deflection."""
    from chalicelib.admin import DEMO_ARTICLES
    from chalicelib.service import kb

    assert not kb.import_folder(DEMO_ARTICLES).refused
