"""The content-gap loop: questions the desk missed, grouped; drafts; preview and publish of FAQ entries."""
