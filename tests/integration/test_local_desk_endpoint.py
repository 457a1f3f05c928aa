"""LocalDesk against an endpoint it did not start (AWS_ENDPOINT_URL), as teams with their own moto server use it."""
import pytest
import requests
from moto.server import ThreadedMotoServer

from chalicelib.local import LocalDesk
from tests.mail import compose


@pytest.fixture
def external_moto(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # A server in this process serves moto's process-wide backends: start from none of what earlier tests on
    # this worker left there (a desk served over HTTP leaves its acknowledgements in SES's).
    requests.post(f"http://{host}:{port}/moto-api/reset", timeout=10).raise_for_status()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    yield
    server.stop()


def test_desk_on_an_external_endpoint_provisions_processes_and_reads_back(external_moto):
    with LocalDesk() as desk:
        desk.receive_email(compose(subject="from an external endpoint"))
        desk.receive_email(b"")  # parked: empty message
        assert desk.pump() == 2
        [ticket] = desk.tickets()
        assert ticket["subject"] == "from an external endpoint" and ticket["acknowledgement"]["status"] == "sent"
        [ack] = desk.sent_emails()
        assert ack["Subject"] == "Re: from an external endpoint [#1]"
        [letter] = desk.dead_letters()
        assert "empty" in letter["reason"] and letter["source"] == "process_inbound"
        assert desk.dead_letters() == [letter]  # reading does not consume
