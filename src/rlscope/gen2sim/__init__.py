"""Gen2Sim: generative simulation (assets from images, meshes and URDFs; procedural articulated assets)."""
