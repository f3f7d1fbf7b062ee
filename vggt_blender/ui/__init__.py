"""What the artist sees and sets: the sidebar panel, the scene's settings (``props``) and the preferences."""
