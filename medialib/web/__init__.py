"""The web app (``medialib serve``): pages for staff and film-makers and a JSON API."""
