"""Flask extensions, created once here and bound to each app in create_app."""

from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
