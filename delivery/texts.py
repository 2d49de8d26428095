"""What the delivery layer tells staff about messages it could not deliver."""

from __future__ import annotations

UNREACHABLE = (
    "⚠️ <b>{role} cannot be reached on Telegram</b>\n"
    "{name} ({ref}) has blocked the bot or closed their account, so messages to them are "
    "held. Please contact them another way. They become reachable again when they next "
    "write to the bot."
)
DELIVERY_FAILED = (
    "⚠️ <b>A message could not be delivered</b>\n"
    "To: {name} ({ref}){about}\n"
    "Telegram kept failing for {minutes} minutes ({attempts} attempts). Please make sure "
    "they get the information another way."
)
