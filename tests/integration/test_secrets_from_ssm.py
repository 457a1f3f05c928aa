"""In AWS the platforms' secrets live in SSM Parameter Store, read through Powertools Parameters."""
from chalicelib.local import LocalDesk
from tests import chat


def test_webhook_secret_from_ssm_under_the_prefix():
    with LocalDesk(environment={"SECRETS_SSM_PREFIX": "/relay-desk/dev/", "TELEGRAM_BOT_TOKEN": chat.SECRETS[
            "TELEGRAM_BOT_TOKEN"]}) as desk:
        ssm = desk._aws("ssm")
        ssm.put_parameter(Name="/relay-desk/dev/TELEGRAM_SECRET_TOKEN", Value=chat.TELEGRAM_SECRET_TOKEN,
                          Type="SecureString")
        accepted = chat.post_telegram(desk, chat.telegram_text(text="Hello from Telegram"))
        forged = chat.post_telegram(desk, chat.telegram_text(text="forged"), token="not-the-secret")
        desk.pump()
        assert accepted.status_code == 200 and forged.status_code == 401
        [ticket] = desk.tickets()
        assert ticket["channel"] == "telegram" and ticket["messages"][0]["text"] == "Hello from Telegram"


def test_a_secret_missing_from_ssm_is_503_never_unsigned_traffic():
    with LocalDesk(environment={"SECRETS_SSM_PREFIX": "/relay-desk/dev/"}) as desk:
        response = chat.post_telegram(desk, chat.telegram_text(text="hi"))
        assert response.status_code == 503
        assert b"TELEGRAM_SECRET_TOKEN" in response.body
        assert desk.pump() == 0
