// Builds the explorer's browser assets into build/explorer/ (run by `npm run build`): the TypeScript in client/
// bundled and minified by esbuild, the stylesheet minified, the favicon copied. Nothing is fetched at run time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'fs';
import path from 'path';
import { ASSETS_DIR } from './assets';

export async function buildExplorerAssets(outDir = ASSETS_DIR): Promise<void> {
    mkdirSync(outDir, { recursive: true });
    const common = { bundle: true, minify: true, logLevel: 'warning', legalComments: 'none', absWorkingDir: __dirname } as const;
    await build({
        ...common,
        entryPoints: [path.join(__dirname, 'client', 'app.ts')],
        outfile: path.join(outDir, 'app.js'),
        format: 'iife',
        platform: 'browser',
        target: ['es2020'],
        tsconfig: path.join(__dirname, 'client', 'tsconfig.json'),
    });
    await build({ ...common, entryPoints: [path.join(__dirname, 'style.css')], outfile: path.join(outDir, 'style.css') });
    copyFileSync(path.join(__dirname, 'favicon.svg'), path.join(outDir, 'favicon.svg'));
}

if (require.main === module) {
    buildExplorerAssets().catch((e: unknown) => {
        console.error(`explorer assets: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
    });
}
