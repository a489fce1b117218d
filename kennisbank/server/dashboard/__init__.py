"""The consultant's dashboard under ``/beheer/``: the views, the login and the charts."""
