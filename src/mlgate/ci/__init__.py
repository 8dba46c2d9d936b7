"""CI configurations: one options model rendered for GitHub, GitLab and Jenkins (Jinja)."""
