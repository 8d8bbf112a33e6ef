"""What the dexndm commands run: rotate, demo, the sim-to-sim pipeline and its random-profile benchmark."""
