"""RL with verifiable rewards: pure advantages/losses, one shared trainer loop, one small module per algorithm."""
