"""A local sandbox: the Bot API fake, the real bot and a web page with a chat pane per role."""
