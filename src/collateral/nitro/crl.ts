/**
 * CRLs of the AWS Nitro PKI. The regional and zonal CA certificates name a CRL distribution point
 * (an S3 URL); the instance CA and the per-document leaf do not. A CRL is fetched through the
 * injected Fetcher and the collateral cache (stale after its nextUpdate), so verifiers that run
 * offline use supplied or cached CRLs only. Its signature and freshness are checked by the caller
 * against the issuer it belongs to.
 */
import { parseCrl, type X509Crl } from '../../core/index.ts';
import { fetchCollateral, type FetchPolicy } from '../http.ts';

/** Fetches and parses the CRL at `url` (DER or PEM). Throws CollateralUnavailable / CollateralInvalid. */
export async function fetchNitroCrl(url: string, issuerSubject: string, policy: FetchPolicy): Promise<X509Crl> {
  const what = `CRL of "${issuerSubject}"`;
  const got = await fetchCollateral(what, url, { retries: 1, ...policy }, (body) => {
    try {
      return parseCrl(body, what).nextUpdate ?? undefined;
    } catch {
      return undefined;
    }
  });
  return parseCrl(got.body, `${what} from ${url}`);
}
