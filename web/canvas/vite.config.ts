import { defineConfig } from "vite";

// Served by the API under /canvas/: relative asset URLs keep the page working behind a path prefix.
export default defineConfig({
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
  },
});
