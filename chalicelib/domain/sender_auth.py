"""Did the sender's domain vouch for this mail? SES's SPF, DKIM and DMARC verdicts, read as one answer.

Anyone can write any address in ``From:``. Answering a forged sender sends our
acknowledgement (repeating the forger's subject and display name) to a third
party — backscatter, the quickest way to get an SES account suspended — and a
forged customer address quoting ``[#1]`` would join that customer's ticket.

SES reports each check as PASS, FAIL, GRAY (the domain publishes no policy),
PROCESSING_FAILED or DISABLED (the receipt rule does not scan). The rule,
after DMARC (RFC 7489 §6.6.2: a message passes when SPF *or* DKIM passes
aligned with the From domain):

* DMARC FAIL → not authenticated: the domain's own policy disowns the mail;
* no DMARC verdict to trust and both SPF and DKIM FAIL → not authenticated;
* any PASS → authenticated;
* anything else (no policies published, scanning off) → unknown: treated like
  mail from a small domain that publishes nothing, which is still most mail.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["Authentication", "assess"]

Status = Literal["pass", "fail", "unknown"]


@dataclass(frozen=True)
class Authentication:
    status: Status
    reason: str  # one line for the agent who reviews the mail

    @property
    def failed(self) -> bool:
        return self.status == "fail"


def assess(verdicts: Mapping[str, str]) -> Authentication:
    """One answer from the SES verdicts (``{"spf": "PASS", "dkim": "FAIL", "dmarc": "GRAY", ...}``)."""
    spf, dkim, dmarc = (str(verdicts.get(name) or "MISSING").upper() for name in ("spf", "dkim", "dmarc"))
    if dmarc == "FAIL":
        return Authentication("fail", f"DMARC FAIL (SPF {spf}, DKIM {dkim}): the sender's domain disowns this mail")
    if dmarc != "PASS" and spf == "FAIL" and dkim == "FAIL":
        return Authentication("fail", f"SPF FAIL and DKIM FAIL, and no DMARC verdict (DMARC {dmarc})")
    if "PASS" in (dmarc, spf, dkim):
        return Authentication("pass", f"DMARC {dmarc}, SPF {spf}, DKIM {dkim}")
    return Authentication("unknown", f"no policy vouches for the sender (DMARC {dmarc}, SPF {spf}, DKIM {dkim})")
