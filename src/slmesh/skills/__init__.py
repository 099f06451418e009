"""The models the router can send work to."""
