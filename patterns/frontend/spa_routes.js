// CloudFront Function (viewer request, default behaviour): a path whose last segment has no
// file extension is a route of the single-page app, answered with /index.html. A path with an
// extension is a file: it is fetched as it is, so a missing asset stays an error (S3 answers
// 403 through origin access control without s3:ListBucket), never index.html with a 200.
function handler(event) {
  var request = event.request;
  var last = request.uri.split('/').pop();
  if (last.indexOf('.') === -1) {
    request.uri = '/index.html';
  }
  return request;
}
