// spec/attestation.md must document every attestation error code once in its table, and keep its sections.
import { readFileSync } from 'fs';
import { join } from 'path';
import { AttestationErrorCodes, INTEL_ROOT_KEY_ID } from '../../../../agents/core/tee/types';
import { MAX_PEM_CHAIN_BYTES, MAX_QUOTE_BYTES } from '../../../../agents/core/tee/quote';
import { isWireCode } from '../../../../agents/core/wire';

const spec = readFileSync(join(__dirname, '../../../../spec/attestation.md'), 'utf8');

describe('spec/attestation.md', () => {
    // A code that is also a wire code (IMAGE_NOT_ALLOWED) has its one row in wire.md's code table instead.
    const wireSpec = readFileSync(join(__dirname, '../../../../spec/wire.md'), 'utf8');
    it.each([...AttestationErrorCodes])('documents error code %s in the error table', (code) => {
        const row = new RegExp(`^\\| \`${code}\` \\|`, 'gm');
        expect(spec.match(row)?.length ?? 0).toBe(isWireCode(code) ? 0 : 1);
        if (isWireCode(code)) expect(wireSpec.match(row)).toHaveLength(1);
    });

    it.each(['Quote format', 'Verification steps', 'Policy', 'Image hash', 'Simulated PKI', 'RA-TLS', 'Error codes'])('has the section "## %s"', (h) => {
        expect(spec).toMatch(new RegExp(`^## ${h}$`, 'm'));
    });

    it('states the size caps and the Intel root key id the code uses', () => {
        expect(MAX_QUOTE_BYTES).toBe(64 * 1024);
        expect(spec).toContain('**64 KiB**');
        expect(MAX_PEM_CHAIN_BYTES).toBe(16 * 1024);
        expect(spec).toContain('**16 KiB**');
        expect(spec).toContain(INTEL_ROOT_KEY_ID);
    });
});
