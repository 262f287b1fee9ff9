"""The reporter's conversation: the report flow and its states, `/status`, data rights."""
