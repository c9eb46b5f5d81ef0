// The explorer's browser bundle (esbuild -> build/explorer/app.js): progressive enhancement of server-rendered pages.
import { startCountdowns } from './countdown';
import { startCopyButtons } from './copy';
import { startFeed } from './feed';

startCountdowns();
startCopyButtons();
startFeed();
