"""Data shipped with repose_ros: the trained RL-DCA policy (rl_dca_policy.zip/.npz/.json)."""
