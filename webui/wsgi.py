"""The web app for a WSGI server, settled for serving: `gunicorn 'webui.wsgi:app'`."""

from engine.serving import settle
from webui import create_app

app = create_app()
settle(app.extensions["qaflow"])
