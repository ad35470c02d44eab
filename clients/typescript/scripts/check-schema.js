// The committed types (src/schema.d.ts) are what openapi-typescript makes of the committed
// contract (docs/reference/openapi.json): fails when the contract changed without them.
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'wiber-schema-'));
try {
  const fresh = join(dir, 'schema.d.ts');
  execFileSync('npx', ['openapi-typescript', '../../docs/reference/openapi.json', '--output', fresh], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (readFileSync(fresh, 'utf8') !== readFileSync('src/schema.d.ts', 'utf8')) {
    console.error('src/schema.d.ts is not the committed OpenAPI document: run `npm run generate`');
    process.exit(1);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
