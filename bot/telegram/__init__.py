"""The Telegram channel: python-telegram-bot v22 in front of the channel-agnostic flow."""
