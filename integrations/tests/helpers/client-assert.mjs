// Test helper: assertions about the client's errors.
import assert from 'node:assert/strict';

import { SidecarError } from '../../client/sidecar-client.js';

/** Await `promise`, expect a SidecarError with this status (and message, if given). */
export async function rejectsWith(promise, status, error) {
    await assert.rejects(promise, (thrown) => {
        assert.ok(thrown instanceof SidecarError, `expected a SidecarError, got ${thrown}`);
        assert.equal(thrown.status, status, thrown.message);
        if (error !== undefined) assert.equal(thrown.error, error);
        return true;
    });
}
