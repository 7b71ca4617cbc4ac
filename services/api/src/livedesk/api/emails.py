"""The one rule for e-mail addresses, wherever one comes in: `livedesk bootstrap` (through
`accounts`), agent creation, login, and contacts.

An address is accepted when its syntax is valid; nobody checks that its domain receives
mail. Reserved test domains (`.test`, `example.com`) are accepted: the README, the demo and
the tests use them. Special-use domains that cannot name anyone's mailbox (`localhost`,
`.local`, `.invalid`, `.onion`, `.arpa`) are refused. The stored and compared form is the
whole address in lower case, so a login matches whatever case the address was given in.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from livedesk.shared.errors import LivedeskError


class InvalidEmail(LivedeskError, ValueError):
    """The address breaks the rule; the message says how, in words a user understands."""


def normalize_email(address: str) -> str:
    """The address as stored and compared; raises InvalidEmail."""
    try:
        checked = validate_email(
            address.strip(),
            check_deliverability=False,  # no DNS: bootstrap and tests run offline
            test_environment=True,  # accepts `.test`, as the README's example does
        )
    except EmailNotValidError as error:
        raise InvalidEmail(f"not a valid e-mail address: {error}") from None
    return checked.normalized.lower()
