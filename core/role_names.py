"""What each role is called in messages: shared by the handlers and the delivery warnings."""

from __future__ import annotations

ROLE_NAMES = {
    "admin": "administrator",
    "clinician": "senior clinician",
    "link_clinician": "link clinician",
    "referrer": "referrer",
    "patient": "patient",
}
