"""The conversation flow: one chat turn, answering, the decision, the guard, the phrases."""
