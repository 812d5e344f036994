"""Remotes for the bedside box: the MPD protocol server and the web page, over the service."""
