"""The gymnasium portfolio environment and PPO training of the weight agents.

Built in a later issue; it imports `autonomous` and `trading`.
"""
