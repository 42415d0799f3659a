// The buffer layout shared by examples/gpu-upload and its worker: 65536 vertices of 32 bytes
// (position, normal, uv), then a 1024x1024 RGBA8 texture, whose rows are exactly 4 KiB.
export const VERTEX_BYTES = 32;
export const VERTICES = 65536;
export const TEXTURE = VERTICES * VERTEX_BYTES; // 2 MiB
export const TEX_WIDTH = 1024;
export const TEX_HEIGHT = 1024;
export const SIZE = TEXTURE + TEX_WIDTH * TEX_HEIGHT * 4; // 6 MiB
export const FLAG = { first: 16384, count: 4096 };
export const CHARACTER = { first: 40000, count: 1000 };
export const BRUSH = 64;
export const brushAt = (frame) => ({ x: (frame * 40) % (TEX_WIDTH - BRUSH), y: (frame * 24) % (TEX_HEIGHT - BRUSH) });
